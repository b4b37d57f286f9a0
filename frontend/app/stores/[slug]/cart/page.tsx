import CartPage from '@/components/CartPage';

export default async function Page({ params }: { params: Promise<{ slug: string }> }) {
  return <CartPage slug={(await params).slug} />;
}
